"""Network-partition simulations: a seeded deterministic simulator and a real-process fault injector."""
