# Container image of the weekly training function (scikit-learn + scipy + numpy ≈ 272 MiB
# unzipped: too big for a zip function with layers, fine for an image).
# Build context: the repository root.  Handler: risk.train_handler.lambda_handler
#   docker build -f functions/risk/training.Dockerfile -t tidewatch-training .
FROM public.ecr.aws/lambda/python:3.13-arm64

COPY requirements.lock /tmp/requirements.lock
# Versions come from the lock file (constraints), so training and serving agree on numpy.
RUN pip install --no-cache-dir -c /tmp/requirements.lock \
        numpy scipy scikit-learn pydantic pydantic-settings "aws-lambda-powertools[tracer]" \
        psycopg psycopg-binary psycopg-pool redis boto3 \
    && rm /tmp/requirements.lock

COPY functions/ ${LAMBDA_TASK_ROOT}/

CMD ["risk.train_handler.lambda_handler"]
