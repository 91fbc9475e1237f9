"""`python -m minikube13 ...` runs the same CLI as the `minikube13` console script.

`python -m minikube13 stage1 <pod dir>` takes a fast path that imports neither click nor
the API: stage1's start-up time counts toward every pod's start time.
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["stage1"]:
        from minikube13.runtime.stage1.entry import main

        sys.exit(main(sys.argv[2:]))
    from minikube13.cli.main import cli

    cli(prog_name="minikube13")
