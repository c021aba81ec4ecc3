"""Kubernetes admission: parse AdmissionReviews, find a workload's images, decide, pin."""
