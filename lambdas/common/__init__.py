"""What the platform's Lambda handlers share: AWS call discipline (`aws`) and settings (`settings`).

Not a handler: `PlatformFunction` ships this package inside every function's asset, next to the
handler's own package, so handlers import it as `lambdas.common` in Lambda and in the tests alike.
"""
