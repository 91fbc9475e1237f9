"""`python -m minikube13 ...` runs the same CLI as the `minikube13` console script."""

from minikube13.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="minikube13")
