"""The alerts function: sends queued alert deliveries (SQS), sweeps due retries, applies SES bounces."""
