"""The pod runtime, rkt-style: stage0 (in the daemon) prepares a pod directory and starts
stage1 (`minikube13 stage1 <pod dir>`, PID 1 of the pod), which runs each container under
runc (stage2). `poddir` is the on-disk contract between the stages and the node agent."""
