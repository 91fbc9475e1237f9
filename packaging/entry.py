"""The frozen program's entry script: `minikube13 ...`, or `minikube13d` by its link name.

`minikube13 stage1 <pod dir>` takes the same fast path as `python -m minikube13 stage1`:
it imports neither click nor the API, since stage1's start-up counts toward every pod start.
"""

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["stage1"]:
        from minikube13.runtime.stage1.entry import main as stage1_main

        sys.exit(stage1_main(sys.argv[2:]))
    from minikube13.cli.main import cli, daemon_entry

    if os.path.basename(sys.argv[0]) == "minikube13d":
        daemon_entry()
    else:
        cli(prog_name="minikube13")


if __name__ == "__main__":
    main()
