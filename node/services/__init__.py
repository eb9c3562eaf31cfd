"""A node's business: members, cards, holds, checkout, returns, the catalogue, stock
and its documents. Plain values in, plain values out: a request body is parsed into
a typed request, a write is a job the store's writer runs, a read is a function of
a connection run through `Store.read`. No HTTP here; node.routes is the shell."""
