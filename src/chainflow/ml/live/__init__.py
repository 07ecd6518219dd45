"""The live ml service: feature vectors in, predictions out, scored when their time comes;
the served-model cache, live accuracy and drift, acting on them."""
