"""The HTTP API and web page over a :class:`~fedrec.serving.recommender.Recommender`.

``fedrec serve PATH --host 127.0.0.1 --port 8000`` runs it with uvicorn; the
OpenAPI schema is at ``/openapi.json`` and the page at ``/``. Bad input never
gets a 5xx: a body that is not JSON, a field of the wrong type, an unknown
scenario, k out of range, texts or bodies over their limits are 4xx answers
whose ``error`` names the problem and the fix. Request bodies are never
logged (uvicorn's access log has paths only, and it is off by default).

The request models are built per app (their limits are the app's), so this
module keeps its annotations evaluated: FastAPI reads them at definition.
"""

from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fedrec.serving.new_items import ServingError
from fedrec.serving.recommender import Recommender


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (``fedrec serve`` options)."""

    max_k: int = 100
    max_text: int = 2_000  # characters of a profile, title or attributes
    max_history: int = 500  # item ids in a history or exclude list
    max_batch: int = 64  # requests in one /recommend/batch
    max_items: int = 10_000  # items in one POST /items
    max_body: int = 8 * 1024 * 1024  # bytes of a request body


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _request_model(limits: Limits) -> type[BaseModel]:
    class RecommendRequest(_Strict):
        """What is known of the user: nothing at all is a cold start."""

        history: list[str] = Field(
            default_factory=list,
            max_length=limits.max_history,
            description="item ids, most recent first",
        )
        profile: str | None = Field(default=None, max_length=limits.max_text)
        scenario: str | None = Field(default=None, description="rank only this scenario's items")
        k: int = Field(default=10, ge=1, le=limits.max_k)
        exclude: list[str] = Field(default_factory=list, max_length=limits.max_history)
        explain: bool = True
        diversity: float = Field(
            default=0.0,
            ge=0.0,
            le=1.0,
            allow_inf_nan=False,
            description="0 = rank by score; up to 1 = re-rank the best for variety (MMR)",
        )

    return RecommendRequest


class RecommendedItem(BaseModel):
    item_id: str
    title: str
    scenario: str
    score: float
    explanation: str | None = None


class RecommendResponse(BaseModel):
    items: list[RecommendedItem]
    cold_start: bool
    warnings: list[str] = []
    served_by: str = Field(
        default="main", description="'main', or 'cold-start' (a bundle's cold-start model)"
    )


def _item_model(limits: Limits) -> type[BaseModel]:
    class NewItem(_Strict):
        item_id: str = Field(min_length=1, max_length=200)
        title: str = Field(min_length=1, max_length=limits.max_text)
        attributes: str = Field(default="", max_length=limits.max_text)
        scenario: str = Field(default="default", min_length=1, max_length=100)

    class NewItems(_Strict):
        items: list[NewItem] = Field(min_length=1, max_length=limits.max_items)

    return NewItems


def create_app(recommender: Recommender, limits: Limits | None = None) -> FastAPI:
    """The FastAPI app serving ``recommender``."""
    limits = limits or Limits()
    app = FastAPI(
        title="fedrec",
        description="Recommendations from a federated, privacy-preserving model.",
        version="1",
    )
    _errors(app, limits)
    _recommend_routes(app, recommender, limits)
    _catalog_routes(app, recommender, limits)

    @app.get("/scenarios")
    def scenarios() -> list[str]:
        return recommender.scenarios

    @app.get("/model")
    def model() -> dict[str, Any]:
        """The model card: dataset, metrics, and the privacy guarantee as audited."""
        return recommender.model_card()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> dict[str, Any]:
        return {"ready": True, "items": len(recommender.items)}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("fedrec.serving").joinpath("static/index.html").read_text("utf-8")

    return app


def _recommend_routes(app: FastAPI, recommender: Recommender, limits: Limits) -> None:
    RecommendRequest = _request_model(limits)

    def answer(req: Any) -> RecommendResponse:
        result = recommender.recommend(
            history=req.history,
            profile=req.profile,
            scenario=req.scenario,
            k=req.k,
            exclude=req.exclude,
            explain_items=req.explain,
            diversity=req.diversity,
        )
        return RecommendResponse(
            items=[RecommendedItem(**asdict(i)) for i in result.items],
            cold_start=result.cold_start,
            warnings=result.warnings,
            served_by=result.served_by,
        )

    @app.post("/recommend", response_model=RecommendResponse)
    def recommend(req: RecommendRequest) -> RecommendResponse:  # type: ignore[valid-type]
        """Rank items for one user; history items are never recommended."""
        return answer(req)

    @app.post("/recommend/batch", response_model=list[RecommendResponse])
    def recommend_batch(
        reqs: list[RecommendRequest],  # type: ignore[valid-type]
    ) -> list[RecommendResponse]:
        """The same for several users at once."""
        if len(reqs) > limits.max_batch:
            raise ServingError(
                f"a batch holds {len(reqs)} requests; send at most {limits.max_batch} at once."
            )
        return [answer(r) for r in reqs]


def _catalog_routes(app: FastAPI, recommender: Recommender, limits: Limits) -> None:
    NewItems = _item_model(limits)

    @app.get("/items")
    def search(
        query: str = Query("", max_length=200),
        scenario: str | None = Query(None, max_length=100),
        limit: int = Query(20, ge=1, le=200),
    ) -> list[dict[str, Any]]:
        """Items whose title contains ``query`` (the page's search box)."""
        return recommender.search(query, scenario, limit)

    # Ids may hold '/' (sent as %2F): the routes take the rest of the path, /similar first.
    @app.get("/items/{item_id:path}/similar", response_model=list[RecommendedItem])
    def similar(item_id: str, k: int = Query(10, ge=1, le=limits.max_k)) -> list[RecommendedItem]:
        return [RecommendedItem(**asdict(i)) for i in recommender.similar(item_id, k)]

    @app.get("/items/{item_id:path}")
    def item(item_id: str) -> dict[str, Any]:
        return recommender.item(item_id)

    @app.post("/items")
    def add_items(body: NewItems) -> dict[str, int]:  # type: ignore[valid-type]
        """New cold items, encoded from their text and rankable at once."""
        added = recommender.add_items([i.model_dump() for i in body.items])
        return {"added": added, "items": len(recommender.items)}


class _BodyLimit:
    """413 for a body over ``max_body`` bytes: by its Content-Length at once, or (a body
    sent in chunks, with no length) as soon as the bytes received pass it."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body
        self.error = f"the body is over {max_body} bytes: send less at once."

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await JSONResponse(status_code=413, content={"error": self.error})(scope, receive, send)
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:  # the route's handler answers it (413)
                raise HTTPException(status_code=413, detail=self.error)
            return message

        await self.app(scope, counted, send)


def _errors(app: FastAPI, limits: Limits) -> None:
    """Every error a client can cause is a 4xx whose ``error`` names problem and fix."""

    app.add_middleware(_BodyLimit, max_body=limits.max_body)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(e) for e in exc.errors()[:10]]
        return JSONResponse(
            status_code=422,
            content={
                "error": "the request does not fit the API: "
                + "; ".join(problems)
                + ". See /openapi.json (or /docs) for the fields and their limits.",
                "problems": problems,
            },
        )

    def _problem(error: dict[str, Any]) -> str:
        if error.get("type") == "json_invalid":
            where = error.get("ctx", {}).get("error", "")
            return f"the body is not valid JSON ({where}): send a JSON object"
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        return f"{where}: {error.get('msg')}"

    @app.exception_handler(ServingError)
    async def refused(request: Request, exc: ServingError) -> JSONResponse:
        not_found = "is not in the catalog" in str(exc) and request.method == "GET"
        return JSONResponse(status_code=404 if not_found else 422, content={"error": str(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": str(exc.detail)})
