"""Prove that the failures that matter reach a person (issue #14).

Each case gets a real Prometheus loaded with the generated rules (platform/alerts/
prometheusrule-classifier.yaml) and a real Alertmanager (Debian's) configured with the project's
routing (platform/kube-prometheus-stack.yaml, merged over the chart's defaults as Helm merges
them), its receivers' endpoints rewritten to a local webhook standing in for the pager and the
chat; routes, matchers, inhibit rules and Alertmanager's timings stay the project's. Prometheus
scrapes what classifier pods export (requests recorded by the service's own metrics layer) and
what the Argo Rollouts controller exports, labelled as prometheus-operator labels them, after an
hour and a quarter of healthy history backfilled with promtool. Time is compressed on the
Prometheus side only: every duration in the rules and the scrape intervals are divided by
SPEEDUP. Each case then breaks the fleet once (every request 5xx, scrapes failing, pods gone,
rollout aborted, or nothing) and the time to the page is measured and converted back to cluster
time. Every process started is stopped, whatever happens.
"""
