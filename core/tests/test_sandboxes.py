"""The sandbox plugin kind: registration, configuration, the App's default; the bubblewrap sandbox's
command line and path checks (its behaviour: SandboxTests, in tests_sandbox, tox env sandbox)."""

import asyncio

import pytest

from supercompat import App, async_supercompat, plugins
from supercompat.config import load_adapters
from supercompat.errors import ConfigError
from supercompat.sandbox_bubblewrap import BubblewrapOptions, BubblewrapSandbox, BubblewrapSession, _parts
from supercompat.sandboxes import NO_SANDBOX_HELP, Sandbox, SandboxUnavailable
from supercompat.testing import app_of


def test_register_sandboxes_through_entry_point(tmp_path):
    spec = plugins.get_adapter_spec("sandbox", "fixture-sandbox")
    assert spec.plugin == "supercompat-fixture"
    assert plugins.get_adapter_spec("sandbox", "bubblewrap").plugin == "supercompat"
    config = tmp_path / "supercompat.toml"
    config.write_text('[sandbox]\nplugin = "fixture-sandbox"\nlabel = "mine"\n')
    adapters = load_adapters(config)
    sandbox = adapters["sandbox"]
    assert sandbox.options.label == "mine" and isinstance(sandbox, Sandbox)
    app = App(**adapters)
    assert app.sandbox is sandbox
    asyncio.run(app.aclose())
    assert sandbox.closed  # the App closes its sandbox
    config.write_text('[sandbox]\nplugin = "fixture-sandbox"\nlabels = "mine"\n')
    with pytest.raises(ConfigError, match="Unknown option 'labels'"):
        load_adapters(config)
    config.write_text('[sandbox]\nplugin = "nowhere"\n')
    with pytest.raises(ConfigError, match="Unknown sandbox adapter 'nowhere'"):
        load_adapters(config)
    config.write_text("")
    assert load_adapters(config)["sandbox"] is None  # the App's default then


def test_bubblewrap_is_configured_by_name_with_its_options(tmp_path):
    config = tmp_path / "supercompat.toml"
    config.write_text('[sandbox]\nplugin = "bubblewrap"\npython = "/opt/py/bin/python"\nmemory_mb = 512\n')
    sandbox = load_adapters(config)["sandbox"]
    assert isinstance(sandbox, BubblewrapSandbox)
    assert sandbox.options.python == "/opt/py/bin/python" and sandbox.options.memory_mb == 512
    config.write_text('[sandbox]\nplugin = "bubblewrap"\nprocesses = 1\n')
    with pytest.raises(ConfigError, match="Invalid option 'processes'"):
        load_adapters(config)


def test_the_default_sandbox_is_bubblewrap_when_bwrap_is_installed(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\nexit 1\n")
    (fake / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    assert isinstance(App().sandbox, BubblewrapSandbox)
    client = async_supercompat()
    assert isinstance(app_of(client).sandbox, BubblewrapSandbox)
    given = BubblewrapSandbox(BubblewrapOptions(memory_mb=256))
    assert App(sandbox=given).sandbox is given
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert App().sandbox is None  # code_interpreter fails its runs with NO_SANDBOX_HELP


async def test_without_bwrap_opening_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    sandbox = BubblewrapSandbox()
    with pytest.raises(SandboxUnavailable, match="bwrap") as caught:
        await sandbox.open()
    assert NO_SANDBOX_HELP in str(caught.value) and "apt-get install bubblewrap" in NO_SANDBOX_HELP
    await sandbox.close()


@pytest.mark.parametrize("path, parts", [("a.txt", ["a.txt"]), ("/mnt/data/out/b.png", ["out", "b.png"]),
                                         ("./x//y", ["x", "y"])])
def test_paths_under_the_mount(path, parts):
    assert _parts(path) == parts


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../x", "a/../../x", "/mnt/database/x", "/mnt/data",
                                  "/mnt/data/..", "a\0b"])
def test_paths_leaving_the_mount_are_refused(path):
    with pytest.raises(ValueError):
        _parts(path)


def bound(argv: list[str], target: str) -> list[str]:
    """The flag and source of the mount at ``target``."""
    return next(argv[at - 2:at] for at in range(2, len(argv))
                if argv[at] == target and argv[at - 2] in ("--bind", "--ro-bind"))


def test_the_command_line_isolates_and_limits(tmp_path):
    sandbox = BubblewrapSandbox(BubblewrapOptions(memory_mb=300, processes=10, file_size_mb=5, cpu_seconds=7))
    sandbox.bwrap, sandbox._binds = "/usr/bin/bwrap", ["/opt/venv"]
    session = BubblewrapSession(sandbox, str(tmp_path))
    executable, argv = sandbox.command(session)
    bwrap = argv[argv.index("/usr/bin/bwrap"):]
    if sandbox.as_root:  # root drops to the unprivileged uid before bwrap
        assert argv.index("/usr/bin/bwrap") > 0 and "65534" in " ".join(argv[:argv.index("/usr/bin/bwrap")])
    else:
        assert executable == "/usr/bin/bwrap"
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--disable-userns"):
        assert flag in bwrap
    assert bwrap[bwrap.index("--cap-drop") + 1] == "ALL"
    assert bound(bwrap, "/opt/venv") == ["--ro-bind", "/opt/venv"]
    assert bound(bwrap, "/mnt/data") == ["--bind", str(tmp_path / "data")]
    assert "--ro-bind" == bwrap[bwrap.index("/usr") - 1] and "--bind" not in bwrap[:bwrap.index("/usr")]
    limits = bwrap[-1]
    assert '"AS": 314572800' in limits and '"NPROC": 10' in limits and '"FSIZE": 5242880' in limits
    assert '"CPU": 7' in limits
    assert bwrap[bwrap.index("--") + 1:bwrap.index("--") + 4] == ["/usr/bin/python3", "-u", "-I"]


def test_the_cli_lists_and_checks_sandboxes(tmp_path, capsys):
    from supercompat.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "sandbox adapters:\n  bubblewrap       supercompat" in out and "fixture-sandbox" in out
    config = tmp_path / "supercompat.toml"
    config.write_text('[client]\nplugin = "scripted"\n[sandbox]\nplugin = "bubblewrap"\nmemory_mb = 512\n')
    assert main(["check", "--config", str(config)]) == 0
    assert "[sandbox] ok       bubblewrap (supercompat" in capsys.readouterr().out
    config.write_text('[client]\nplugin = "scripted"\n')
    assert main(["check", "--config", str(config)]) == 0
    assert "[sandbox] ok       none named: code_interpreter uses bubblewrap" in capsys.readouterr().out
    config.write_text('[client]\nplugin = "scripted"\n[sandbox]\nplugin = "bubblewrap"\nmemory = 512\n')
    assert main(["check", "--config", str(config)]) == 2
    assert "[sandbox] PROBLEM  Unknown option 'memory'" in capsys.readouterr().out
