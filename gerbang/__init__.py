"""Generated gRPC contracts (do not edit; run `make proto`)."""
