"""Federated retraining on Flower's deployment engine.

* :mod:`fedgov.federated.model` - the built-in model: logistic regression in
  numpy over a monitoring spec's features, and Kamiran-Calders reweighing;
* :mod:`fedgov.federated.server_app` / :mod:`fedgov.federated.client_app` -
  the built-in Flower ServerApp (strict FedAvg) and ClientApp (trains on a
  silo's file, named by the SuperNode's node config);
* :mod:`fedgov.federated.cluster` - :class:`FlowerCluster`: a SuperLink and
  one SuperNode per silo as local processes;
* :mod:`fedgov.federated.runner` - :func:`run_training`: submit a Flower App
  with the ``flwr`` CLI, wait for it, load the result (the plug-in point for
  a user's own ServerApp/ClientApp).

Only model updates and counts leave a silo: weights, the number of
examples, the local loss, and (group x label) counts with small cells
suppressed. Importing this package does not import Flower's server or
client runtime; the app modules do.
"""

from fedgov.federated._fab import BUILTIN_RUN_CONFIG, node_ids_value, write_builtin_app
from fedgov.federated._result import write_error, write_result
from fedgov.federated.cluster import FlowerCluster, NodeInfo, Silo
from fedgov.federated.model import (
    FeatureMap,
    init_weights,
    load_weights,
    log_loss,
    predict_proba,
    reweigh,
    save_weights,
    train_local,
)
from fedgov.federated.runner import TrainingError, TrainingResult, run_training

__all__ = [
    "BUILTIN_RUN_CONFIG",
    "FeatureMap",
    "FlowerCluster",
    "NodeInfo",
    "Silo",
    "TrainingError",
    "TrainingResult",
    "init_weights",
    "load_weights",
    "log_loss",
    "node_ids_value",
    "predict_proba",
    "reweigh",
    "run_training",
    "save_weights",
    "train_local",
    "write_builtin_app",
    "write_error",
    "write_result",
]
