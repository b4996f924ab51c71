"""Tests of the ``etc/odenos.conf`` parser (odenos.config)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from odenos.config import Config, load_config, parse_config
from odenos.errors import ConfigError

SHIPPED = """\
# ODENOS configuration, as shipped
MANAGER systemmanager
PROCESS romgr1,python,apps/python/sample_components   # sample components
PROCESS romgr2, python , apps/a , /opt/odenos/b

rest.port 10080
rest.root .

zookeeper.embed
"""


def write(tmp_path: Path, text: str, folder: str = "etc") -> Path:
    conf = tmp_path / folder / "odenos.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    return conf


def parse(tmp_path: Path, text: str, folder: str = "etc") -> Config:
    return load_config(write(tmp_path, text, folder))


def error(tmp_path: Path, text: str) -> ConfigError:
    conf = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    assert info.value.file == str(conf)
    return info.value


# --- the shipped configuration -----------------------------------------------------------------


def test_shipped_config(tmp_path: Path) -> None:
    conf = write(tmp_path, SHIPPED)
    root = tmp_path.resolve()
    (root / "apps/python/sample_components").mkdir(parents=True)
    (root / "apps/a").mkdir()
    cfg = load_config(conf)
    assert cfg.path == conf.resolve()
    assert cfg.base_dir == root
    assert cfg.manager_id == "systemmanager"
    assert not cfg.manager_disabled
    assert [p.cm_id for p in cfg.processes] == ["romgr1", "romgr2"]
    first, second = cfg.processes
    assert first.language == "python"
    assert first.line == 3
    assert first.component_dirs == (root / "apps/python/sample_components",)
    assert second.component_dirs == (root / "apps/a", Path("/opt/odenos/b"))
    assert cfg.process("romgr2") is second
    assert cfg.rest_host == "localhost"
    assert cfg.rest_port == 10080
    assert cfg.rest_root == root
    assert cfg.process_host == "127.0.0.1"
    assert cfg.forward_timeout == 10.0
    assert cfg.var_dir == root / "var"
    assert cfg.monitor == () and cfg.monitor_logging == ()
    assert cfg.warnings == (
        f"{conf}:4: PROCESS romgr2: component directory /opt/odenos/b does not exist; "
        "its component types will not be available",
    )
    zk = cfg.zookeeper
    assert zk.embed and zk.port == 2181 and zk.chroot is None
    assert zk.hosts == "127.0.0.1:2181"
    assert zk.connect_string == "127.0.0.1:2181"
    assert zk.session_timeout_ms == 4000
    assert zk.classpath is None


def test_the_repository_config_parses_cleanly() -> None:
    conf = Path(__file__).resolve().parent.parent / "etc" / "odenos.conf"
    cfg = load_config(conf)
    assert cfg.warnings == ()
    assert [p.cm_id for p in cfg.processes] == ["romgr1", "romgr2"]
    assert cfg.zookeeper.embed


def test_defaults_of_an_empty_file(tmp_path: Path) -> None:
    cfg = parse(tmp_path, "# nothing\n\n   \n")
    assert cfg.manager_id == "systemmanager"
    assert cfg.processes == ()
    assert cfg.rest_root is None
    assert cfg.zookeeper.embed  # on when absent
    assert cfg.zookeeper.connect_string == "127.0.0.1:2181"


def test_every_key(tmp_path: Path) -> None:
    cfg = parse(
        tmp_path,
        """\
manager.disabled yes
MANAGER sm1
PROCESS cm.1,python
rest.host 10.0.0.2
rest.auth off
rest.port 8080
rest.forward_timeout 2500
process.host 10.0.0.3
zookeeper.embed off
zookeeper.host zk1
zookeeper.session_timeout 10000
zookeeper.classpath lib/zookeeper.jar:/usr/share/java/*
var.dir /srv/odenos/var
monitor resttranslator, systemmanager ,romgr1,
monitor.logging romgr1
""",
    )
    assert cfg.manager_disabled
    assert cfg.manager_id == "sm1"
    assert cfg.process("cm.1").component_dirs == ()
    assert (cfg.rest_host, cfg.rest_port, cfg.process_host) == ("10.0.0.2", 8080, "10.0.0.3")
    assert cfg.forward_timeout == 2.5
    assert cfg.zookeeper.session_timeout_ms == 10000
    assert cfg.zookeeper.classpath == "lib/zookeeper.jar:/usr/share/java/*"  # kept as given
    assert cfg.var_dir == Path("/srv/odenos/var")
    assert cfg.monitor == ("resttranslator", "systemmanager", "romgr1")
    assert cfg.monitor_logging == ("romgr1",)


def test_comment_inside_value(tmp_path: Path) -> None:
    cfg = parse(
        tmp_path, "rest.host example.org#not-this\nrest.port\t8080 # trailing\nrest.auth off\n"
    )
    assert cfg.rest_host == "example.org"
    assert cfg.rest_port == 8080


def test_process_lookup_of_unknown_id(tmp_path: Path) -> None:
    cfg = parse(tmp_path, SHIPPED)
    with pytest.raises(ConfigError, match="no PROCESS line for 'romgr9'") as info:
        cfg.process("romgr9")
    assert info.value.line is None


# --- flags -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["off", "OFF", "false", "no", "0"])
def test_zookeeper_embed_off(tmp_path: Path, value: str) -> None:
    cfg = parse(tmp_path, f"zookeeper.embed {value}\nzookeeper.host h1:2181,h2:2181\n")
    assert not cfg.zookeeper.embed
    assert cfg.zookeeper.hosts == "h1:2181,h2:2181"


@pytest.mark.parametrize("value", ["", " on", " True", " yes", " 1"])
def test_flag_on(tmp_path: Path, value: str) -> None:
    assert parse(tmp_path, f"manager.disabled{value}\n").manager_disabled


def test_bad_flag_value(tmp_path: Path) -> None:
    err = error(tmp_path, "\nzookeeper.embed maybe\n")
    assert err.line == 2
    assert "zookeeper.embed: 'maybe' is not a flag value (on/off" in err.message
    assert err.message.startswith(f"{err.file}:2: ")


# --- warnings ----------------------------------------------------------------------------------


def test_unknown_key_and_pubsub_warn(tmp_path: Path) -> None:
    conf = write(tmp_path, "foo bar\npubsub.server.host 127.0.0.1\nprocess romgr1,python\n")
    cfg = load_config(conf)
    assert cfg.warnings[0] == f"{conf}:1: unknown key 'foo' (ignored)"
    assert cfg.warnings[1].startswith(f"{conf}:2: ")
    assert "ignored: ODENOS's Redis pub/sub transport is not used here" in cfg.warnings[1]
    assert cfg.warnings[2].startswith(f"{conf}:3: unknown key 'process' (ignored)")
    assert "did you mean 'PROCESS'?" in cfg.warnings[2]
    assert cfg.processes == ()


def test_duplicate_key_last_wins(tmp_path: Path) -> None:
    conf = write(tmp_path, "rest.port 8080\nrest.port 8081\n")
    cfg = load_config(conf)
    assert cfg.rest_port == 8081
    assert cfg.warnings == (f"{conf}:2: rest.port is also set on line 1; this later one wins",)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rest.port abc", "rest.port: 'abc' is not a port number (1-65535)"),
        ("rest.port 0", "rest.port: '0' is not a port number (1-65535)"),
        ("rest.port 65536", "rest.port: '65536' is not a port number (1-65535)"),
        ("rest.port +80", "rest.port: '+80' is not a port number (1-65535)"),
        ("zookeeper.port 2_181", "zookeeper.port: '2_181' is not a port number (1-65535)"),
        ("zookeeper.session_timeout 999", "(1000-600000)"),
        ("rest.forward_timeout 10s", "'10s' is not a time in milliseconds (100-600000)"),
    ],
)
def test_bad_integer(tmp_path: Path, text: str, message: str) -> None:
    err = error(tmp_path, f"# header\n{text}\n")
    assert err.line == 2
    assert message in err.message


def test_missing_value(tmp_path: Path) -> None:
    err = error(tmp_path, "MANAGER systemmanager\nrest.port   # forgot it\n")
    assert err.line == 2
    assert "rest.port needs a value: a port number (1-65535)" in err.message


@pytest.mark.parametrize("cm_id", ["rom gr1", "romgr:1", "-romgr", "_x", "rom/gr"])
def test_bad_cm_id(tmp_path: Path, cm_id: str) -> None:
    err = error(tmp_path, f"MANAGER systemmanager\nPROCESS {cm_id},python\n")
    assert err.line == 2
    assert f"PROCESS: {cm_id!r} is not a valid id (a letter or digit" in err.message


def test_bad_manager_id(tmp_path: Path) -> None:
    err = error(tmp_path, "PROCESS romgr1,python\nMANAGER system:manager\n")
    assert err.line == 2
    assert "MANAGER: 'system:manager' is not a valid id" in err.message


def test_core_ids_are_taken(tmp_path: Path) -> None:
    err = error(tmp_path, "PROCESS eventmanager,python\n")
    assert err.line == 1
    assert "'eventmanager' is taken by a core object" in err.message


def test_duplicate_process_id(tmp_path: Path) -> None:
    err = error(tmp_path, "PROCESS romgr1,python\n\nPROCESS romgr1,python,apps\n")
    assert err.line == 3
    assert "'romgr1' is already defined on line 1" in err.message


def test_process_id_equal_to_manager(tmp_path: Path) -> None:
    # MANAGER comes after the PROCESS line: still caught, at the PROCESS line.
    err = error(tmp_path, "PROCESS sm,python\nMANAGER sm\n")
    assert err.line == 1
    assert "'sm' is the system manager's id (MANAGER)" in err.message
    err = error(tmp_path, "PROCESS systemmanager,python\n")  # the default MANAGER
    assert err.line == 1


def test_unsupported_language(tmp_path: Path) -> None:
    err = error(tmp_path, "PROCESS romgr1,python\nPROCESS romgr2,java,apps/java\n")
    assert err.line == 2
    expected = "language 'java' is not supported: only python component managers exist here"
    assert expected in err.message


@pytest.mark.parametrize("value", ["romgr1", "romgr1,", "romgr1,python,,apps", ",python"])
def test_malformed_process(tmp_path: Path, value: str) -> None:
    err = error(tmp_path, f"PROCESS {value}\n")
    assert err.line == 1
    assert "expected <cm id>,<language>[,<component dir>...]" in err.message


def test_ensemble_with_embed_on(tmp_path: Path) -> None:
    err = error(tmp_path, "zookeeper.embed\nzookeeper.host h1:2181,h2:2181\n")
    assert err.line == 2
    assert err.message.endswith(
        "zookeeper.embed is on, but zookeeper.host names 'h1:2181,h2:2181'; "
        "add 'zookeeper.embed off' to use an external ZooKeeper"
    )


def test_remote_host_with_embed_on_by_default(tmp_path: Path) -> None:
    err = error(tmp_path, "zookeeper.host 10.10.10.10\n")
    assert err.line == 1
    assert "add 'zookeeper.embed off'" in err.message


def test_embed_port_mismatch(tmp_path: Path) -> None:
    err = error(tmp_path, "zookeeper.host 127.0.0.1:2182\nzookeeper.port 2181\n")
    assert err.line == 1
    assert "the embedded server listens on port 2181" in err.message


@pytest.mark.parametrize("chroot", ["/", "/a/", "/a//b", "/a/../b"])
def test_bad_chroot(tmp_path: Path, chroot: str) -> None:
    err = error(tmp_path, f"zookeeper.embed off\nzookeeper.host h1:2181{chroot}\n")
    assert err.line == 2
    assert f"chroot {chroot!r} is not /name[/name...]" in err.message


@pytest.mark.parametrize("hosts", ["h1,,h2", ":2181", "[::1]x"])
def test_bad_zookeeper_host(tmp_path: Path, hosts: str) -> None:
    err = error(tmp_path, f"zookeeper.embed off\nzookeeper.host {hosts}\n")
    assert err.line == 2
    assert "zookeeper.host: " in err.message
    assert "is not host[:port]" in err.message


@pytest.mark.parametrize("hosts", ["h1:abc", "h1:0", "h1:99999", "[::1]:"])
def test_bad_zookeeper_port(tmp_path: Path, hosts: str) -> None:
    err = error(tmp_path, f"zookeeper.embed off\nzookeeper.host {hosts}\n")
    assert err.line == 2
    assert err.message.endswith(
        f"zookeeper.host: {hosts!r} has no valid port: expected a port number (1-65535)"
    )


# --- hosts and folders ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("localhost", "localhost"),
        ("example.org", "example.org"),
        ("example.org.", "example.org."),
        ("my-host-1.lab-2.example", "my-host-1.lab-2.example"),
        ("1host.example", "1host.example"),
        ("0.0.0.0", "0.0.0.0"),
        ("10.0.0.255", "10.0.0.255"),
        ("::", "::"),
        ("fd00::1", "fd00::1"),
        ("[fd00::1]", "fd00::1"),
        ("[::ffff:10.0.0.1]", "::ffff:10.0.0.1"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
    ],
)
@pytest.mark.parametrize("key", ["rest.host", "process.host"])
def test_good_host(tmp_path: Path, key: str, value: str, host: str) -> None:
    if key == "process.host" and host in ("0.0.0.0", "::"):
        pytest.skip("a wildcard is a good bind address, but not one to publish")
    # Beyond loopback the REST port must be authenticated, or open on purpose.
    cfg = parse(tmp_path, f"{key} {value}\nrest.auth off\n")
    assert (cfg.rest_host if key == "rest.host" else cfg.process_host) == host


@pytest.mark.parametrize(
    "value",
    [
        "a b c",
        "not a host!",
        "host!",
        "under_score",
        "-lead.example",
        "trail-.example",
        "a..b",
        ".example",
        "a" * 64 + ".example",
        ("a" * 62 + ".") * 5,  # 315 characters
        "10.0.0.256",
        "1234",
        "010.0.0.1",
        "fd00::zz",
        "[fd00::1",
        "[10.0.0.1]",
        "[host]",
        "host:8080",
        "http://host",
    ],
)
@pytest.mark.parametrize("key", ["rest.host", "process.host"])
def test_bad_host(tmp_path: Path, key: str, value: str) -> None:
    err = error(tmp_path, f"# header\n{key} {value}\n")
    assert err.line == 2
    assert err.message == (
        f"{err.file}:2: {key}: {value!r} is not a host name (dot-separated labels of "
        "letters, digits and inner '-'), an IPv4 address, or an IPv6 address "
        "(optionally in brackets)"
    )


@pytest.mark.parametrize("hosts", ["h_1:2181", "zk1,not a host!", "[fd00::zz]:2181", "h1..:2181"])
def test_zookeeper_host_names_are_checked(tmp_path: Path, hosts: str) -> None:
    err = error(tmp_path, f"zookeeper.embed off\nzookeeper.host {hosts}\n")
    assert err.line == 2
    assert "is not host[:port], the host being a host name (" in err.message


def test_rest_root_must_exist(tmp_path: Path) -> None:
    err = error(tmp_path, "rest.root\tweb\n")
    assert err.line == 1
    web = tmp_path.resolve() / "web"
    assert err.message.endswith(
        f"rest.root: 'web' ({web}) does not exist; expected an existing folder of static files"
    )


def test_rest_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "index.html").touch()
    file = tmp_path.resolve() / "index.html"
    err = error(tmp_path, f"\nrest.root {file}\n")
    assert err.line == 2
    assert f"rest.root: '{file}' is not a directory; expected an existing folder" in err.message
    err = error(tmp_path, f"rest.root {file}/below\n")  # below a file: no such folder
    assert "does not exist" in err.message


def test_missing_component_directories_are_warnings(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    (root / "here").mkdir()
    (root / "file.py").touch()
    conf = write(tmp_path, "# header\nPROCESS romgr1,python,here,gone,file.py\n")
    cfg = load_config(conf)
    assert cfg.process("romgr1").component_dirs == (root / "here", root / "gone", root / "file.py")
    unavailable = "its component types will not be available"
    assert cfg.warnings == (
        f"{conf}:2: PROCESS romgr1: component directory {root / 'gone'} does not exist; "
        + unavailable,
        f"{conf}:2: PROCESS romgr1: component directory {root / 'file.py'} is not a directory; "
        + unavailable,
    )


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "etc" / "odenos.conf"
    with pytest.raises(ConfigError, match="cannot read the configuration file") as info:
        load_config(missing)
    assert info.value.file == str(missing)
    assert info.value.line is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    conf = write(tmp_path, SHIPPED)
    conf.chmod(0)
    try:
        with pytest.raises(ConfigError, match="Permission denied") as info:
            load_config(conf)
    finally:
        conf.chmod(0o644)
    assert info.value.file == str(conf)
    assert info.value.line is None


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    conf = tmp_path / "odenos.conf"
    conf.write_bytes(b"MANAGER \xff\n")
    with pytest.raises(ConfigError, match="cannot read the configuration file: not UTF-8 text"):
        load_config(conf)


def test_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path)


# --- paths -------------------------------------------------------------------------------------


def test_relative_paths_etc_layout(tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    cfg = parse(tmp_path, "PROCESS romgr1,python,apps/x,../y\nrest.root www\nvar.dir run\n")
    root = tmp_path.resolve()
    assert cfg.base_dir == root
    assert cfg.process("romgr1").component_dirs == (root / "apps/x", root.parent / "y")
    assert cfg.rest_root == root / "www"
    assert cfg.var_dir == root / "run"


def test_relative_paths_other_layout(tmp_path: Path) -> None:
    (tmp_path / "conf" / "www").mkdir(parents=True)
    cfg = parse(tmp_path, "PROCESS romgr1,python,apps/x\nrest.root www\n", folder="conf")
    here = (tmp_path / "conf").resolve()
    assert cfg.base_dir == here
    assert cfg.process("romgr1").component_dirs == (here / "apps/x",)
    assert cfg.rest_root == here / "www"
    assert cfg.var_dir == here / "var"


def test_parse_config_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = parse_config("var.dir v\n", Path("etc/odenos.conf"))
    assert cfg.path == tmp_path.resolve() / "etc/odenos.conf"
    assert cfg.var_dir == tmp_path.resolve() / "v"


# --- ZooKeeper connect string ------------------------------------------------------------------


def test_connect_string_with_chroot_and_ports(tmp_path: Path) -> None:
    cfg = parse(
        tmp_path,
        "zookeeper.embed off\nzookeeper.host h1:2181, h2 ,h3:2999/odenos-prod/a\n",
    )
    zk = cfg.zookeeper
    assert zk.hosts == "h1:2181,h2:2181,h3:2999"
    assert zk.chroot == "/odenos-prod/a"
    assert zk.connect_string == "h1:2181,h2:2181,h3:2999/odenos-prod/a"


@pytest.mark.parametrize(
    "text",
    [
        "zookeeper.embed off\nzookeeper.host h1,h2\nzookeeper.port 3000\n",
        "zookeeper.port 3000\nzookeeper.embed off\nzookeeper.host h1,h2\n",
    ],
)
def test_host_and_port_order_does_not_matter(tmp_path: Path, text: str) -> None:
    zk = parse(tmp_path, text).zookeeper
    assert zk.port == 3000
    assert zk.connect_string == "h1:3000,h2:3000"


def test_ipv6_hosts(tmp_path: Path) -> None:
    zk = parse(tmp_path, "zookeeper.embed off\nzookeeper.host [fd00::1]:2182,fd00::2\n").zookeeper
    assert zk.hosts == "[fd00::1]:2182,[fd00::2]:2181"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.1.1:4000", "::1", "[::1]:4000"])
def test_embed_loopback_is_normalised(tmp_path: Path, host: str) -> None:
    zk = parse(tmp_path, f"zookeeper.host {host}/chroot\nzookeeper.port 4000\n").zookeeper
    assert zk.embed
    assert zk.connect_string == "127.0.0.1:4000/chroot"


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::", "[::]"])
def test_process_host_must_not_be_a_wildcard(tmp_path: Path, wildcard: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"# x\nprocess.host {wildcard}\n", tmp_path / "odenos.conf")
    assert info.value.line == 2
    assert "wildcard" in info.value.message


def test_log_config_is_read_and_checked_with_the_config(tmp_path: Path) -> None:
    """log.config names a YAML file of logging's dictConfig: read with the config, and a
    missing, unreadable or malformed one is an error naming the line."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc" / "logging.yaml").write_text("version: 1\nroot: {level: WARNING}\n")
    cfg = parse(tmp_path, "log.config etc/logging.yaml\n")
    assert cfg.log_config == {"version": 1, "root": {"level": "WARNING"}}
    assert parse(tmp_path, "var.dir v\n").log_config is None
    err = error(tmp_path, "var.dir v\nlog.config etc/nosuch.yaml\n")
    assert ":2:" in str(err) and "cannot read" in str(err)
    (tmp_path / "etc" / "bad.yaml").write_text("version: [1\n")
    assert "is not YAML" in str(error(tmp_path, "log.config etc/bad.yaml\n"))
    (tmp_path / "etc" / "list.yaml").write_text("- version: 1\n")
    assert "version: 1" in str(error(tmp_path, "log.config etc/list.yaml\n"))
    # The shipped file is one.
    shipped = Path(__file__).resolve().parent.parent / "etc" / "logging.yaml"
    (tmp_path / "etc" / "shipped.yaml").write_text(shipped.read_text())
    assert parse(tmp_path, "log.config etc/shipped.yaml\n").log_config["version"] == 1
