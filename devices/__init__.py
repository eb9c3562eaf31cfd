"""Card readers and receipt printers over pyserial, and virtual ones for tests and demos."""
