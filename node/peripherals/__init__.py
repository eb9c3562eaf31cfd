"""The branch's attached devices as the node runs them: the card reader, whose reads
reach the open till pages (node.services.till), and the receipt printer, which prints
the queue of receipts (node.services.printouts). A layer beside sync: it runs loops of
its own over services and the store, and knows no HTTP."""
