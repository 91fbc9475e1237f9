"""minikube13: the Kubernetes 1.3 feature set in one node daemon."""

__version__ = "0.1.0"
# The Kubernetes version the API reports (kubectl compares against it).
KUBERNETES_GIT_VERSION = "v1.3.0-minikube13"
