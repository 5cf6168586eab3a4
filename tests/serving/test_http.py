"""A real ``fedrec serve`` process on 127.0.0.1, over HTTP: every endpoint and bad input."""

import httpx
import pytest

from tests.serving.server import serving


@pytest.fixture(scope="module")
def base(bundle_dir, tmp_path_factory):
    import shutil

    path = shutil.copytree(bundle_dir, tmp_path_factory.mktemp("http") / "bundle")
    with serving(path, "--max-k", "50") as url:
        yield url


@pytest.fixture(scope="module")
def client(base):
    with httpx.Client(base_url=base, timeout=30) as c:
        yield c


def test_health_ready_scenarios_and_model_card(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["ready"] is True and ready["items"] > 0
    assert client.get("/scenarios").json() == ["ecommerce", "music", "news"]
    card = client.get("/model").json()
    assert card["privacy"]["mode"] == "local" and card["privacy"]["unit"] == "user"
    assert card["privacy"]["epsilon"] == pytest.approx(8.0, rel=0.02)
    assert "/recommend" in client.get("/openapi.json").json()["paths"]
    assert "<title>fedrec</title>" in client.get("/").text


def test_recommend_history_profile_and_cold_start(client):
    items = client.get("/items", params={"limit": 5}).json()
    history = [i["item_id"] for i in items[:3]]
    reply = client.post("/recommend", json={"history": history, "k": 5})
    assert reply.status_code == 200
    body = reply.json()
    assert len(body["items"]) == 5 and not body["cold_start"]
    assert not {i["item_id"] for i in body["items"]} & set(history)
    assert set(body["items"][0]) == {"item_id", "title", "scenario", "score", "explanation"}
    assert "you liked" in body["items"][0]["explanation"]
    cold = client.post("/recommend", json={}).json()
    assert cold["cold_start"] and len(cold["items"]) == 10
    profile = client.post("/recommend", json={"profile": "loves jazz and camping"}).json()
    assert not profile["cold_start"]
    music = client.post("/recommend", json={"history": history, "scenario": "music"}).json()
    assert {i["scenario"] for i in music["items"]} == {"music"}
    quiet = client.post("/recommend", json={"history": history, "explain": False}).json()
    assert all(i["explanation"] is None for i in quiet["items"])


def test_batch(client):
    reply = client.post("/recommend/batch", json=[{"k": 2}, {"profile": "news junkie", "k": 3}])
    assert reply.status_code == 200
    assert [len(r["items"]) for r in reply.json()] == [2, 3]


def test_items_search_similar(client):
    found = client.get("/items", params={"query": "a", "scenario": "news", "limit": 3}).json()
    assert 0 < len(found) <= 3 and {i["scenario"] for i in found} == {"news"}
    item_id = found[0]["item_id"]
    assert client.get(f"/items/{item_id}").json()["title"] == found[0]["title"]
    similar = client.get(f"/items/{item_id}/similar", params={"k": 4}).json()
    assert len(similar) == 4 and item_id not in {s["item_id"] for s in similar}


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "message"),
    [
        ("post", "/recommend", {"k": 0}, 422, "greater than or equal to 1"),
        ("post", "/recommend", {"k": 51}, 422, "less than or equal to 50"),
        ("post", "/recommend", {"scenario": "cooking"}, 422, "use one of"),
        ("post", "/recommend", {"history": ["nope"]}, 422, "none of the history"),
        ("post", "/recommend", {"profile": "x" * 2001}, 422, "at most 2000"),
        ("post", "/recommend", {"history": "abc"}, 422, "history"),
        ("post", "/recommend", {"colour": "red"}, 422, "colour"),
        ("post", "/recommend", {"diversity": 1.5}, 422, "less than or equal to 1"),
        ("post", "/recommend", {"diversity": -0.1}, 422, "greater than or equal to 0"),
        ("post", "/recommend/batch", [{}] * 65, 422, "at most 64"),
        ("post", "/items", {"items": []}, 422, "items"),
        ("get", "/items/no-such-item", None, 404, "not in the catalog"),
        ("get", "/items/no-such-item/similar", None, 404, "not in the catalog"),
        ("get", "/nowhere", None, 404, "Not Found"),
    ],
)
def test_bad_input_is_a_4xx_that_names_the_problem(client, method, path, payload, status, message):
    reply = client.request(method, path, json=payload)
    assert reply.status_code == status
    assert message in reply.json()["error"]


def test_malformed_and_oversized_bodies(client):
    for content in (b"{not json", b"", b"[1, 2"):
        reply = client.post(
            "/recommend", content=content, headers={"content-type": "application/json"}
        )
        assert reply.status_code == 422, content
        assert "error" in reply.json()
    big = b'{"profile": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    reply = client.post("/recommend", content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "send less" in reply.json()["error"]

    def chunks():  # no Content-Length: the limit counts the bytes as they arrive
        for start in range(0, len(big), 1 << 16):
            yield big[start : start + (1 << 16)]

    reply = client.post(
        "/recommend", content=chunks(), headers={"content-type": "application/json"}
    )
    assert reply.status_code == 413 and "send less" in reply.json()["error"]


def test_added_items_survive_a_restart(bundle_dir, tmp_path):
    import shutil

    path = shutil.copytree(bundle_dir, tmp_path / "bundle")
    text = "handmade ceramic tea bowls from the coast"
    other = "a thriller about a submarine crew"
    new = {"item_id": "new-bowl", "title": text, "scenario": "crafts"}
    rival = {"item_id": "new-sub", "title": other, "scenario": "crafts"}
    with serving(path) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.post("/items", json={"items": [new, rival]}).json()["added"] == 2
        again = c.post("/items", json={"items": [new]})
        assert again.status_code == 422 and "already in the catalog" in again.json()["error"]
        for profile, best in ((text, "new-bowl"), (other, "new-sub")):
            body = {"profile": profile, "scenario": "crafts", "k": 2}
            assert c.post("/recommend", json=body).json()["items"][0]["item_id"] == best
    with serving(path) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/items/new-bowl").json()["added"] is True
        assert "crafts" in c.get("/scenarios").json()
        reply = c.post("/recommend", json={"profile": text, "scenario": "crafts", "k": 1})
        assert reply.json()["items"][0]["item_id"] == "new-bowl"


def test_an_item_whose_id_holds_a_slash_can_be_fetched(client):
    new = {"item_id": "vinyl/side-a", "title": "a slashed record", "scenario": "music"}
    assert client.post("/items", json={"items": [new]}).status_code == 200
    for path in ("/items/vinyl%2Fside-a", "/items/vinyl/side-a"):
        reply = client.get(path)
        assert reply.status_code == 200 and reply.json()["item_id"] == "vinyl/side-a"
    similar = client.get("/items/vinyl%2Fside-a/similar", params={"k": 3})
    assert similar.status_code == 200 and len(similar.json()) == 3
    assert client.get("/items/no%2Fsuch").status_code == 404
