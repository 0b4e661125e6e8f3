"""Mutual TLS between the services (chassis.certificates): with SHOP_GRPC_TLS_DIR set, a
server takes only callers that show a certificate of the stage's authority, and a caller
talks only to a server that does. These tests turn it on whatever the mode (real mode has it
on for every test: chassis.settings.grpc_tls_dir)."""

import grpc
import pytest
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from chassis import certificates, errors
from chassis.grpc_client import close_channels
from chassis.grpc_server import registers
from chassis.testing import running_server

from .test_grpc_errors import SERVICE, RaisingCatalog, client_for

REQUEST = catalog_pb2.GetProductRequest(id=1)


@pytest.fixture
def folder(settings, tmp_path):
    folder = tmp_path / "certs"
    settings.SHOP_GRPC_TLS_DIR = str(folder)
    close_channels()  # no plaintext channel of an earlier test is reused
    yield folder
    close_channels()


@pytest.fixture
def servicer():
    return RaisingCatalog()


@pytest.fixture
def target(folder, servicer, settings):
    @registers(SERVICE)
    def register(server):
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server)

    with running_server(register) as target:
        settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, "test": target}
        yield target


def test_a_caller_with_the_stages_certificate_is_served_and_named(target, servicer, caplog):
    caplog.set_level("INFO", logger="chassis.grpc")

    assert client_for("test").call("GetProduct", REQUEST).sku == "KI-0001"
    assert "method=GetProduct caller=chassis_tests outcome=OK" in caplog.text


def test_a_caller_without_a_certificate_is_refused_before_any_servicer_runs(
    target, folder, servicer
):
    plaintext = grpc.insecure_channel(target)
    authority, _, _ = certificates.read(folder, "chassis_tests")
    # TLS, trusting the server, but showing no certificate of its own.
    anonymous = grpc.secure_channel(target, grpc.ssl_channel_credentials(authority))

    for channel in (plaintext, anonymous):
        with pytest.raises(grpc.RpcError) as refused:
            catalog_pb2_grpc.CatalogServiceStub(channel).GetProduct(REQUEST, timeout=2)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()
    assert servicer.calls == 0


def test_a_certificate_of_another_authority_is_refused(target, folder, servicer, tmp_path):
    certificates.ensure(tmp_path / "elsewhere", ["intruder"])
    _, key, certificate = certificates.read(tmp_path / "elsewhere", "intruder")
    authority, _, _ = certificates.read(folder, "chassis_tests")
    credentials = grpc.ssl_channel_credentials(authority, key, certificate)

    channel = grpc.secure_channel(target, credentials)
    with channel, pytest.raises(grpc.RpcError) as refused:
        catalog_pb2_grpc.CatalogServiceStub(channel).GetProduct(REQUEST, timeout=2)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == 0


def test_a_plaintext_caller_of_a_tls_server_gets_a_503_not_an_answer(target, settings):
    settings.SHOP_GRPC_TLS_DIR = ""  # this process forgot its certificates

    with pytest.raises(errors.ServiceUnavailable):
        client_for("test").call("GetProduct", REQUEST)


def test_certificates_are_made_once_and_kept(tmp_path):
    certificates.ensure(tmp_path, ["orders"])
    authority = (tmp_path / "ca.pem").read_bytes()
    orders = (tmp_path / "orders.pem").read_bytes()

    certificates.ensure(tmp_path, ["orders", "payments"])

    assert (tmp_path / "ca.pem").read_bytes() == authority
    assert (tmp_path / "orders.pem").read_bytes() == orders
    assert (tmp_path / "payments.pem").exists()
    assert oct((tmp_path / "payments-key.pem").stat().st_mode & 0o777) == "0o600"
