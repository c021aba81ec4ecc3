"""Stage 2: catalog the packages in a pinned image with Syft or Trivy."""
