"""The Helm chart's values as pydantic models: values.yaml and values.schema.json derive from them.

Keys are camelCase (Helm's convention); maps are keyed by name. The chart's own values.yaml
holds the defaults of ChartValues and a unit test keeps the two equal; values.schema.json is
written from values_schema() and a unit test keeps that equal too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, SkipJsonSchema
from pydantic_core import core_schema

from stack.container import health, paths
from stack.container.observed import METRICS_HEALTH, METRICS_PORT
from stack.deploy import services as plan
from stack.deploy.services import FLOWER_PORT
from stack.topology.model import BrokerSpec, Topology

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Kubernetes resource quantity: 250m, 0.5, 512Mi, 1G ...
Quantity = Annotated[
    str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
]
GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class Values(BaseModel):
    """Base of every values model: camelCase keys, unknown keys are schema errors."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ImageRef(Values):
    repository: str = Field("", description="The app image built by the kit (`stack build`).")
    tag: str = Field("latest", description="Tag of the app image; empty with a digest ref.")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"


class LocalObjectRef(Values):
    name: NonEmpty


class Amounts(Values):
    cpu: Quantity | SkipJsonSchema[None] = None
    memory: Quantity | SkipJsonSchema[None] = None


class Resources(Values):
    """Container resources, as Kubernetes spells them."""

    requests: Amounts = Amounts()
    limits: Amounts = Amounts()


class Persistence(Values):
    enabled: bool = Field(True, description="A PersistentVolumeClaim, else an emptyDir.")
    size: Quantity = "1Gi"
    storage_class: str = Field("", description="Empty: the cluster's default StorageClass.")


class External(Values):
    """Where a kit-run service is replaced by an external URL (type url)."""

    existing_secret: str = Field(
        "", description="Secret holding the external URL (required with type url)."
    )
    existing_secret_key: NonEmpty = "url"


class Broker(External):
    type: Literal["redis", "rabbitmq", "url"] = "redis"


class Backend(External):
    type: Literal["redis", "none", "url"] = "redis"


class Infra(Values):
    """A broker or backend server the chart runs as a one-replica StatefulSet."""

    image: NonEmpty
    args: list[str] = Field(min_length=1, description="Container args (entrypoint kept).")
    env: dict[EnvName, str] = Field(default_factory=dict)
    port: int = Field(ge=1, le=65535)
    data_dir: NonEmpty = Field(description="Mount path of the data volume.")
    run_as_user: int = Field(ge=1, description="The image's non-root user (also fsGroup).")
    read_only_root_filesystem: bool = True
    probe: list[str] = Field(min_length=1, description="Exec probe (readiness and liveness).")
    grace_period: int = Field(30, ge=1, description="terminationGracePeriodSeconds.")
    persistence: Persistence = Persistence()
    resources: Resources = Resources()


class Redis(Infra):
    pass


class RabbitMQ(Infra):
    user: NonEmpty = "stack"


def probe(test: tuple[str, ...]) -> list[str]:
    """A compose-style healthcheck test as an exec probe command."""
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", *test[1:]]
    return list(test[1:]) if test[0] == "CMD" else list(test)


def run_as_user(image: str, service: str) -> int:
    """The server's own user in the official images: rabbitmq's Alpine build uses uid 100."""
    return 100 if service == "rabbitmq" and "alpine" in image else 999


def infra(service: plan.Service) -> dict[str, Any]:
    """Values of a broker/backend server from the kit's service plan."""
    assert service.healthcheck is not None  # every infrastructure service has one
    return {
        "image": service.image,
        "args": list(service.command),
        "env": dict(service.environment),
        "port": service.ports[0],
        "data_dir": next(iter(service.volumes.values())),
        "run_as_user": run_as_user(service.image, service.name),
        "read_only_root_filesystem": service.name != "rabbitmq",  # Erlang writes $HOME
        "probe": probe(service.healthcheck.test),
        "grace_period": service.stop_grace_period,
    }


def _default_infra(name: str) -> dict[str, Any]:
    """Defaults: what the kit renders for a rabbitmq-broker, redis-backend topology."""
    topology = Topology(name="stack", app="app:app", broker=BrokerSpec(type="rabbitmq"))
    services = plan.infrastructure(topology, plan.images(topology, env={}))
    return next(infra(s) for s in services if s.name == name)


class Autoscale(Values):
    """KEDA ScaledObject on the length of the group's queues."""

    enabled: bool = False
    min_replicas: int = Field(0, ge=0)
    max_replicas: int = Field(10, ge=1)
    queue_length: int = Field(20, ge=1, description="Target messages per replica.")
    polling_interval: int = Field(15, ge=1, description="Seconds between queue checks.")
    cooldown_period: int = Field(300, ge=0, description="Seconds idle before scaling to min.")


class Worker(Values):
    """One worker group: a Deployment consuming its queues."""

    queues: list[NonEmpty] = Field(min_length=1, description="Queues consumed (KEDA triggers).")
    args: list[str] = Field(min_length=1, description="The worker command; -Q must match queues.")
    replicas: int = Field(1, ge=0, le=1000, description="Ignored when autoscaled.")
    termination_grace_period_seconds: int = Field(
        60, ge=1, description="Time for a warm shutdown: the longest allowed task plus margin."
    )
    env: dict[EnvName, str] = Field(default_factory=dict)
    liveness_probe: bool = Field(
        True, description="Off for the solo pool: a long task blocks the loop that touches it."
    )
    resources: Resources = Resources()
    autoscale: Autoscale = Autoscale()
    settings_checksum: str = Field(
        "", description="Rolls these pods when their own settings change (see topologySha256)."
    )


class Beat(Values):
    enabled: bool = False
    args: list[str] = Field(default_factory=list)
    termination_grace_period_seconds: int = Field(
        30, ge=1, description="Time to save the schedule file after SIGTERM."
    )
    persistence: Persistence = Persistence(size="64Mi")
    resources: Resources = Resources()
    settings_checksum: str = Field(
        "", description="Rolls these pods when their own settings change (see topologySha256)."
    )


class Service(Values):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    port: int = Field(FLOWER_PORT, ge=1, le=65535)
    allow_plain_http: bool = Field(
        False,
        description="Allow NodePort/LoadBalancer: Flower speaks plain HTTP, so its basic-auth "
        "password crosses the network in clear unless TLS ends in front of it.",
    )


class Flower(Values):
    enabled: bool = False
    user: Annotated[str, StringConstraints(pattern=r"^[^:\s]+$")] = "admin"
    args: list[str] = Field(default_factory=list)
    port: int = Field(FLOWER_PORT, ge=1, le=65535, description="Container port.")
    service: Service = Service()
    resources: Resources = Resources()
    settings_checksum: str = Field(
        "", description="Rolls these pods when their own settings change (see topologySha256)."
    )


class ServiceMonitor(Values):
    """A prometheus-operator ServiceMonitor for the exporter (its CRD must be installed)."""

    enabled: bool = False
    interval: Annotated[str, StringConstraints(pattern=r"^[0-9]+(ms|s|m|h)$")] = "30s"
    # Scrapes ask every worker (one inspect round, up to 1 s) and the broker.
    scrape_timeout: Annotated[str, StringConstraints(pattern=r"^[0-9]+(ms|s|m|h)$")] = "10s"
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels your Prometheus selects ServiceMonitors by."
    )


class MetricsService(Values):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    port: int = Field(METRICS_PORT, ge=1, le=65535)


class Metrics(Values):
    """The Prometheus exporter (docs/metrics.md)."""

    enabled: bool = False
    args: list[str] = Field(default_factory=list)
    port: int = Field(METRICS_PORT, ge=1, le=65535, description="Container port.")
    health_path: NonEmpty = METRICS_HEALTH
    service: MetricsService = MetricsService()
    service_monitor: ServiceMonitor = ServiceMonitor()
    resources: Resources = Resources()
    settings_checksum: str = Field(
        "", description="Rolls these pods when their own settings change (see topologySha256)."
    )


class NetworkPolicy(Values):
    """Who may reach the chart's broker and backend: the release's own pods, KEDA's
    operator (it counts the queues of autoscaled groups), and extra_from."""

    enabled: bool = True
    keda_namespace: NonEmpty = "keda"
    extra_from: list[dict[str, Any]] = Field(
        default_factory=list,
        description="More NetworkPolicyPeer entries (podSelector, namespaceSelector, ipBlock).",
    )


class Secrets(Values):
    """Where the chart's passwords come from: generated into its Secret, or your Secret."""

    existing_secret: str = Field(
        "",
        description="Your Secret with the passwords, URL-safe: redis-password, rabbitmq-user "
        "and rabbitmq-password, flower-password (those of the servers the chart runs). The "
        "chart then makes no Secret: for `helm template` and GitOps, where a generated "
        "password changes at every render.",
    )
    keep: bool = Field(
        True,
        description="helm.sh/resource-policy keep on the generated Secret: an uninstall leaves "
        "it, so a reinstall onto the retained volumes keeps their passwords.",
    )


class Probes(Values):
    """Shell probes on the health files the worker touches (stack.container.health)."""

    alive: NonEmpty = health.ALIVE_PROBE
    ready: NonEmpty = health.READY_PROBE
    beat_alive: NonEmpty = Field(
        health.BEAT_ALIVE_PROBE, description="Beat's liveness: its state file is fresh."
    )
    startup_seconds: int = Field(120, ge=1, description="Time allowed to become ready.")


class ContainerLayout(Values):
    """The app image's layout (stack.container.paths), for the pods that run it."""

    uid: int = Field(ge=1, description="The app's non-root user (runAsUser).")
    gid: int = Field(ge=1, description="Its group (runAsGroup, fsGroup: volumes are writable).")
    topology_path: NonEmpty = Field(description="Where the topology is mounted ($STACK_TOPOLOGY).")
    beat_dir: NonEmpty = Field(description="Where beat's schedule file lives.")
    tmp_dir: NonEmpty = Field(description="Mounted writable; the health files are below it.")


def container_layout() -> ContainerLayout:
    """The layout the kit builds its image with."""
    return ContainerLayout(
        uid=paths.UID,
        gid=paths.GID,
        topology_path=paths.TOPOLOGY,
        beat_dir=paths.BEAT_DIR,
        tmp_dir=paths.TMP_DIR,
    )


class ChartValues(Values):
    """values.yaml of the stack chart."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        title="stack chart values",
    )

    name_override: str = ""
    fullname_override: str = ""
    project: str = Field("", description="The topology's name (label app.kubernetes.io/part-of).")
    topology: str = Field("", description="The topology YAML, mounted at $STACK_TOPOLOGY.")
    topology_sha256: str = Field(
        "",
        description="sha256 of topology as the kit rendered it. While it matches, an app pod "
        "rolls when its own settingsChecksum changes; else every app pod rolls on any change "
        "of topology (it was edited by hand).",
    )
    image: ImageRef = ImageRef()
    image_pull_secrets: list[LocalObjectRef] = Field(default_factory=list)
    env: dict[EnvName, str] = Field(default_factory=dict, description="Env of every app pod.")
    broker: Broker = Broker()
    backend: Backend = Backend()
    redis: Redis = Field(default_factory=lambda: Redis(**_default_infra("redis")))
    rabbitmq: RabbitMQ = Field(default_factory=lambda: RabbitMQ(**_default_infra("rabbitmq")))
    workers: dict[GroupName, Worker] = Field(default_factory=dict)
    beat: Beat = Beat()
    flower: Flower = Flower()
    metrics: Metrics = Metrics()
    network_policy: NetworkPolicy = NetworkPolicy()
    probes: Probes = Probes()
    container: ContainerLayout = Field(
        default_factory=container_layout,
        description="The app image's layout: change it only with an image built to match.",
    )
    secrets: Secrets = Secrets()
    extra_env: list[dict[str, Any]] = Field(
        default_factory=list,
        description="More EnvVar entries of every app pod, e.g. valueFrom.secretKeyRef.",
    )
    env_from: list[dict[str, Any]] = Field(
        default_factory=list,
        description="EnvFromSource entries of every app pod (secretRef, configMapRef).",
    )
    service_account_name: str = Field(
        "", description="The app pods' ServiceAccount; empty: the namespace's default."
    )
    automount_service_account_token: bool = Field(
        False, description="Mount its token in app pods (Celery needs none)."
    )
    pod_annotations: dict[str, str] = Field(default_factory=dict)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    affinity: dict[str, Any] = Field(default_factory=dict, description="Pod affinity of every pod.")
    topology_spread_constraints: list[dict[str, Any]] = Field(
        default_factory=list, description="Of the app pods, e.g. to spread a group over zones."
    )


class _SchemaGenerator(GenerateJsonSchema):
    """Draft 2020-12 without generated titles; name-keyed maps reject bad names."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        out = super().dict_schema(schema)
        if "patternProperties" in out:
            out["additionalProperties"] = False
        return out

    def generate(self, schema: Any, mode: Any = "validation") -> JsonSchemaValue:
        out = super().generate(schema, mode=mode)
        for definition in out.get("$defs", {}).values():
            definition.pop("title", None)
        return {"$schema": SCHEMA_DIALECT, **_drop_nulls(out)}


def _drop_nulls(node: Any) -> Any:
    """Unset optional values show as absent, not null (Helm deletes null keys on merge)."""
    if isinstance(node, dict):
        return {k: _drop_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_nulls(v) for v in node]
    return node


def values_schema() -> dict[str, Any]:
    """The JSON Schema of values.yaml (the chart's values.schema.json)."""
    return ChartValues.model_json_schema(by_alias=True, schema_generator=_SchemaGenerator)


def default_values() -> dict[str, Any]:
    """The chart's defaults: what helm/stack/values.yaml holds."""
    return dump(ChartValues())


def dump(values: ChartValues) -> dict[str, Any]:
    return values.model_dump(mode="json", by_alias=True, exclude_none=True)
