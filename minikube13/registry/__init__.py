"""The generic registry: Kubernetes object semantics (metadata, validation through the model,
versions, finalizers, graceful deletion, selectors, paging, watch) over the store."""
