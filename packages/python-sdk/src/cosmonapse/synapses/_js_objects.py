"""Creating (or finding) the JetStream objects of one namespace: its TASK stream and its
stop bucket (docs/transports/nats.md, "Durable work", and :mod:`._js_names`)."""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from ._js_names import JetStreamOptions, stream_subjects

__all__ = ["open_bucket", "open_stream"]


async def open_stream(js: JetStreamContext, options: JetStreamOptions, namespace: str) -> int:
    """Find the namespace's TASK stream, or create it as ``options`` say; return how many
    replicas it has (the settings of whoever created it win)."""
    name = options.stream_name(namespace)
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        config = api.StreamConfig(
            name=name,
            subjects=[stream_subjects(namespace)],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType(options.storage),
            max_age=options.max_age,
            num_replicas=options.replicas,
            duplicate_window=min(120.0, options.max_age),
        )
        try:
            info = await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            info = await js.stream_info(name)  # created meanwhile by another peer
    return info.config.num_replicas or 1


async def open_bucket(
    js: JetStreamContext, options: JetStreamOptions, namespace: str, replicas: int
) -> KeyValue:
    """Find the namespace's stop bucket, or create it with at least ``replicas`` replicas
    (those of the TASK stream: a STOP record is kept as safely as the TASKs it stops)."""
    name = options.bucket_name(namespace)
    try:
        return await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        pass
    return await js.create_key_value(
        api.KeyValueConfig(
            bucket=name,
            history=1,
            ttl=options.max_age,
            replicas=max(options.replicas, replicas),
            storage=api.StorageType(options.storage),
        )
    )
