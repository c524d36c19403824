#!/usr/bin/env bash
# Upload the built dashboard to the stack's bucket with a config.json pointing at the stack's
# APIs, then invalidate CloudFront.
#   scripts/publish-dashboard.sh <stack-name> [walletconnect-project-id]
# Needs the AWS CLI with credentials; build first: (cd dashboard && npm ci && npm run build).
set -euo pipefail

stack="${1:?usage: scripts/publish-dashboard.sh <stack-name> [walletconnect-project-id]}"
walletconnect="${2:-}"
dist="$(cd "$(dirname "$0")/.." && pwd)/dashboard/dist"
[[ -f "$dist/index.html" ]] || { echo "no $dist/index.html: run npm run build in dashboard/ first" >&2; exit 1; }

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
bucket="$(output DashboardBucketName)"
distribution="$(output DashboardDistributionId)"
api_url="$(output HttpApiUrl)"
ws_url="$(output WebSocketUrl)"

config="$(mktemp)"
trap 'rm -f "$config"' EXIT
printf '{"apiBaseUrl": "%s", "wsUrl": "%s", "walletConnectProjectId": "%s"}\n' \
  "$api_url" "$ws_url" "$walletconnect" >"$config"

# Hashed assets cache for a year; index.html and config.json are re-read on every visit.
aws s3 sync "$dist" "s3://$bucket" --delete \
  --exclude index.html --exclude config.json --cache-control "public,max-age=31536000,immutable"
aws s3 cp "$dist/index.html" "s3://$bucket/index.html" --cache-control "no-cache"
aws s3 cp "$config" "s3://$bucket/config.json" --content-type application/json --cache-control "no-cache"
aws cloudfront create-invalidation --distribution-id "$distribution" --paths /index.html /config.json >/dev/null
echo "dashboard published: $(output DashboardUrl)"
