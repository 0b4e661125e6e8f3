"""The gateway's adapters: one module per service it calls, in the words of the views.

Each module keeps the function names of stage 03's context `api` (`product_search`,
`available`, `cart_add_item`, `place_order`, ...), so the views did not change when the
contexts left the process. A function builds one gRPC request, calls it through
`chassis.clients` (deadline, retries, errors read back as the chassis's ShopErrors) and
returns the answer's message. Nothing here catches an error to render it: the exception
handler of `gateway.http_errors` does that, in one place.
"""
