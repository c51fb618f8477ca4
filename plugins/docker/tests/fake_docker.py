"""A stand-in for the docker CLI, for the plumbing tests: ``run`` runs the container's command here,
without isolation, with its volumes' paths replaced by the host directories; ``rm`` notes the
container in ``$FAKE_DOCKER_LOG``. It checks the sandbox's own part: the command, stdin, replies on
stdout, interrupts, restarts and removal."""

import os
import sys

VALUED = {"--name", "--network", "--tmpfs", "--memory", "--memory-swap", "--cpus", "--pids-limit", "--cap-drop",
          "--security-opt", "--user", "--ulimit", "--volume", "--workdir", "--hostname", "--env"}


def main(args: list[str]) -> None:
    with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
        log.write(" ".join(args[:3]) + "\n")
    if args[0] != "run":
        return
    volumes, at = {}, 1
    while args[at].startswith("--"):
        if args[at] == "--volume":
            source, target = args[at + 1].split(":")[:2]
            volumes[target] = source
        at += 2 if args[at] in VALUED else 1
    command = [volumes.get(arg, arg) for arg in args[at + 1:]]
    os.chdir(volumes["/mnt/data"])
    os.execv(sys.executable, [sys.executable, *command[1:]])


if __name__ == "__main__":
    main(sys.argv[1:])
