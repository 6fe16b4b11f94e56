from pathlib import Path

from fastapi.testclient import TestClient

from core.settings import LimitSettings, Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices


def test_requests_are_timed_by_route_template_not_by_path(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        bootstrap_admin_token="metrics-admin-token-0123456789abcdef",
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        embedding={"backend": "sentence-transformers"},
        log_level="WARNING",
    )
    container = ApiServices(settings)
    with TestClient(create_app(container)) as client:
        headers = {"Authorization": "Bearer metrics-admin-token-0123456789abcdef"}
        assert (
            client.get("/api/v1/documents/00000000-0000-0000-0000-000000000001", headers=headers).status_code
            == 404
        )
        assert client.get("/healthz").status_code == 200
        metrics = client.get("/metrics").text
    container.close()
    assert (
        'sillok_http_request_seconds_count{method="GET",route="/api/v1/documents/{document_id}",status="404"}'
        in metrics
    )
    assert 'route="/healthz",status="200"' in metrics
    assert "00000000-0000-0000-0000-000000000001" not in metrics
