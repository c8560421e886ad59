"""Graphs for recommendation: building them, message passing, link prediction.

Lesson 04 (``lessons/04-graph-relations.ipynb`` and its companion notebooks) derives each
piece; later lessons import it.

>>> from ecomrec.graph import friendship_edges, split_edges, GCN, LinkPredictor
"""

from ecomrec.graph.adjacency import (
    MessageGraph,
    adjacency_matrix,
    bipartite_normalized_adjacency,
    mean_adjacency,
    normalized_adjacency,
    propagate,
)
from ecomrec.graph.build import (
    assortativity,
    co_purchase_graph,
    friendship_edges,
    friendship_graph,
    undirected_edges,
    user_features,
    user_item_edges,
    user_item_matrix,
)
from ecomrec.graph.layers import (
    GCN,
    CommonNeighbourScore,
    FeatureMLP,
    GraphConv,
    GraphSAGE,
    LayerCombinedScore,
    LinkPredictor,
    SAGEConv,
    dot_scores,
    layer_combination,
    layer_combined_logits,
)
from ecomrec.graph.lightgcn import (
    BPRObjective,
    BPRSampler,
    LightGCN,
    LightGCNRecommender,
    bpr_loss,
    lightgcn_layers,
)
from ecomrec.graph.links import (
    EdgeSplit,
    LinkObjective,
    auc_bootstrap,
    average_precision,
    evaluate_link_predictor,
    link_batches,
    link_prediction_metrics,
    link_scores,
    sample_negative_edges,
    split_edges,
    train_link_predictor,
)
from ecomrec.graph.social import (
    blend_scores,
    blend_sweep,
    friend_purchase_counts,
    intra_list_diversity,
    minmax_rows,
    ranking_and_diversity,
)

__all__ = [
    "BPRObjective",
    "BPRSampler",
    "CommonNeighbourScore",
    "EdgeSplit",
    "FeatureMLP",
    "GCN",
    "GraphConv",
    "GraphSAGE",
    "LayerCombinedScore",
    "LightGCN",
    "LightGCNRecommender",
    "LinkPredictor",
    "MessageGraph",
    "SAGEConv",
    "adjacency_matrix",
    "assortativity",
    "auc_bootstrap",
    "average_precision",
    "bipartite_normalized_adjacency",
    "blend_scores",
    "blend_sweep",
    "bpr_loss",
    "co_purchase_graph",
    "dot_scores",
    "evaluate_link_predictor",
    "friend_purchase_counts",
    "friendship_edges",
    "friendship_graph",
    "intra_list_diversity",
    "layer_combination",
    "layer_combined_logits",
    "lightgcn_layers",
    "link_prediction_metrics",
    "link_scores",
    "mean_adjacency",
    "minmax_rows",
    "normalized_adjacency",
    "propagate",
    "ranking_and_diversity",
    "sample_negative_edges",
    "split_edges",
    "LinkObjective",
    "link_batches",
    "train_link_predictor",
    "undirected_edges",
    "user_features",
    "user_item_edges",
    "user_item_matrix",
]
