"""What the platform's Lambda handlers (and the deploy pipeline's scripts) share.

- `contracts`: every name, parameter, prefix, event type and tag that ties the parts together (standard
  library only; also in the deploy bundle);
- `serving_state`: who serves a stage, read from its stack and endpoint (boto3 only; also in the bundle);
- `aws`: one client configuration (clients created at their first use) and one rule for what a failed AWS
  call means;
- `endpoints`: an endpoint's variants with the package each serves; `idempotency`: acting once per
  delivery; `settings`: the environment every handler validates at cold start; `models`: the base of
  the other pydantic models, built at first use; `cold_start`: garbage collection paused while a handler
  imports and sets up.

Not a handler: `PlatformFunction` ships this package inside every function's asset, next to the
handler's own package, so handlers import it as `lambdas.common` in Lambda and in the tests alike.
"""
