# Workload models behind kubesim's pod/service proxy. Each model adds its
# library to KUBESIM_MODEL_LIBS, which the kubesim binary links.
KUBESIM_MODEL_LIBS =
