"""Quality classification: a fastText classifier trained here (curated vs raw documents) and
the `quality_classifier_filter` that keeps documents by threshold or GPT-3's Pareto sampling."""
