"""`make doctor`: each check says ok or what to do, from facts the tests choose."""

import importlib.metadata

from shopctl.commands.doctor import installed_packages, pinned_packages, ports, python_version
from shopctl.stages import Stage

LOCK = """\
django==5.2.9             # via shop-migration-workshop (pyproject.toml)
psycopg[binary,pool]==3.2.13  # via shop-migration-workshop (pyproject.toml)
# a comment
grpcio==1.85.3
"""


def test_python_3_11_is_enough_and_3_10_is_not():
    assert python_version((3, 11)).ok
    too_old = python_version((3, 10))
    assert not too_old.ok
    assert "3.10 is too old" in too_old.detail and "PYTHON=python3.11" in too_old.detail


def test_the_lock_reads_as_names_and_versions():
    assert pinned_packages(LOCK) == {"django": "5.2.9", "psycopg": "3.2.13", "grpcio": "1.85.3"}


def test_a_missing_or_different_package_is_named_with_the_fix():
    installed = {"django": "5.2.9", "grpcio": "1.70.0"}

    def version_of(name: str) -> str:
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    finding = installed_packages(pinned_packages(LOCK), version_of)

    assert not finding.ok
    assert "grpcio 1.70.0 (the lock says 1.85.3)" in finding.detail
    assert "psycopg missing" in finding.detail
    assert "rm -rf .venv && make doctor" in finding.detail


def test_every_port_of_every_stage_is_checked_and_a_taken_one_named(tmp_path):
    (tmp_path / "Procfile").write_text(
        "web: gunicorn --bind 127.0.0.1:$((${SHOP_PORT:-8000} + 10))\nproxy: python -m proxy\n"
    )
    stages = [Stage("03-strangler", "03", tmp_path)]

    assert ports(stages, 8000, is_free=lambda port: True).detail == "free: 8000, 8010, 8039"
    taken = ports(stages, 8000, is_free=lambda port: port != 8010)
    assert not taken.ok
    assert "8010 (stage 03)" in taken.detail and "SHOP_PORT=9000" in taken.detail
