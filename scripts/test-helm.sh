#!/usr/bin/env bash
# test-helm: lint and render the Helm chart deploy/helm/event-grpc in both
# modes and validate what it renders, with no cluster and no network.
#
# - helm is built from its Go module (helm.sh/helm/v3, pinned below) into
#   .tools/bin, once.
# - `helm lint --strict` and `helm template` for embedded mode (StatefulSet +
#   PVC, Secret from values) and broker mode (Deployment ×3, existing Secret,
#   gRPC readiness probe, ServiceMonitor, PrometheusRule), and the chart's
#   refusals of values that would deploy something broken.
# - `kubectl apply --dry-run=client` cannot run here: even client-side it
#   asks an API server for discovery and the OpenAPI schema, and
#   kubeconform downloads its schemas. Instead deploy/helm/kubecheck decodes
#   every rendered object strictly into its k8s.io/api type (unknown or
#   mistyped fields fail, as the schema would) and checks selectors, probes,
#   mounts and terminationGracePeriodSeconds against SHUTDOWN_*.
# - The PrometheusRule's groups pass `promtool check rules`, and the chart's
#   copy of the alert rules is deploy/prometheus/alerts.yml.
# - deploy/compose's haproxy.cfg passes `haproxy -c`, its prometheus.yml
#   `promtool check config`.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=v3.21.4
BIN=$PWD/.tools/bin
CHART=deploy/helm/event-grpc
export PATH=$BIN:$PATH

# (helm built by go install reports only "v3.21"; the module version is in
# the binary's build info.)
if ! go version -m "$BIN/helm" 2>/dev/null | grep -qE "^\s+mod\s+helm.sh/helm/v3\s+${HELM_VERSION}\s"; then
  echo "test-helm: building helm ${HELM_VERSION} from its Go module into $BIN (once)" >&2
  GOBIN=$BIN go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi
echo "test-helm: helm ${HELM_VERSION} ($(helm version --short))" >&2
./scripts/ensure-prometheus.sh

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if ! cmp -s deploy/prometheus/alerts.yml "$CHART/files/alerts.yml"; then
  echo "test-helm: FAIL: $CHART/files/alerts.yml differs from deploy/prometheus/alerts.yml (copy it)" >&2
  exit 1
fi

kubecheck() { (cd deploy/helm/kubecheck && go run . "$@"); }

for mode in embedded broker; do
  values=$CHART/ci/$mode-values.yaml
  helm lint --strict "$CHART" -f "$values"
  helm template t "$CHART" -f "$values" --namespace events >"$out/$mode.yaml"
  echo "test-helm: $mode: $(grep -c '^kind:' "$out/$mode.yaml") objects rendered" >&2
done
kubecheck -kinds StatefulSet,Service,Secret <"$out/embedded.yaml"
kubecheck -kinds Deployment,Service,PodDisruptionBudget,ServiceMonitor,PrometheusRule -rules "$out/rules.yml" <"$out/broker.yaml"
promtool check rules "$out/rules.yml"

# What each mode must say, in the rendered manifests.
expect() { # file pattern what
  grep -qE -- "$2" "$1" || { echo "test-helm: FAIL: $3 (no /$2/ in $(basename "$1"))" >&2; exit 1; }
}
expect "$out/embedded.yaml" 'kind: StatefulSet' 'embedded mode is a StatefulSet'
expect "$out/embedded.yaml" 'volumeClaimTemplates:' 'embedded mode has a PVC per replica'
expect "$out/embedded.yaml" 'path: /heartbeat' 'readiness on /heartbeat'
expect "$out/embedded.yaml" 'ADMIN_TOKEN_FILE' 'secrets as _FILE variables'
expect "$out/broker.yaml" 'replicas: 3' 'broker mode runs replicaCount pods'
expect "$out/broker.yaml" 'grpc:' 'gRPC readiness probe'
expect "$out/broker.yaml" 'RABBIT_PASSWORD_FILE' 'RabbitMQ password from a Secret file'
expect "$out/broker.yaml" 'secretName: event-grpc-prod' 'the existing Secret'
expect "$out/broker.yaml" 'alert: EventGrpcNotReady' 'the alert rules'
if grep -q 'kind: Secret' "$out/broker.yaml"; then
  echo "test-helm: FAIL: broker mode with existingSecret rendered a Secret" >&2; exit 1
fi

# Values the chart must refuse, each with its message.
refuse() { # message, then --set arguments
  local want=$1; shift
  local err
  if err=$(helm template t "$CHART" "$@" 2>&1 >/dev/null); then
    echo "test-helm: FAIL: rendered with $* (want a refusal: $want)" >&2; exit 1
  fi
  grep -qF -- "$want" <<<"$err" || { echo "test-helm: FAIL: $*: $err (want: $want)" >&2; exit 1; }
}
refuse 'set env.BROKER to rabbitmq or nats' -f "$CHART/ci/embedded-values.yaml" --set mode=broker
refuse 'set env.SINK to clickhouse' -f "$CHART/ci/embedded-values.yaml" --set mode=broker --set env.BROKER=rabbitmq
refuse 'is not embedded or broker' -f "$CHART/ci/embedded-values.yaml" --set mode=cluster
refuse 'shutdown.timeoutSeconds must exceed' -f "$CHART/ci/embedded-values.yaml" --set shutdown.graceSeconds=40
refuse 'set by the chart' -f "$CHART/ci/embedded-values.yaml" --set env.SHUTDOWN_GRACE=5s
refuse 'a secret; list it under secrets.keys' -f "$CHART/ci/embedded-values.yaml" --set env.ADMIN_TOKEN=x
refuse 'is in neither secrets.existingSecret' # the defaults name secrets nobody gave

# The compose stack's haproxy and Prometheus configurations, checked by
# their own tools (the compose files themselves: go test ./deploy/compose).
if ! command -v haproxy >/dev/null 2>&1; then
  echo "test-helm: installing haproxy from Debian (for haproxy -c)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 haproxy >&2
fi
haproxy -c -f deploy/compose/haproxy.cfg >&2
sed "s#/etc/prometheus/alerts.yml#$PWD/deploy/prometheus/alerts.yml#" deploy/compose/prometheus.yml >"$out/prometheus.yml"
promtool check config "$out/prometheus.yml" >&2
echo "test-helm: PASS" >&2
