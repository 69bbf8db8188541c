"""A minute-long tour: groups -> head -> grouped softmax -> metrics on random features."""

import torch

from imbalml import AttributeGroups, GroupAccuracy, GroupedSoftmaxHead, MeanClassAccuracy
from imbalml.functional import grouped_log_softmax


def main() -> dict[str, float]:
    torch.manual_seed(0)
    groups = AttributeGroups([7, 3, 3, 4, 6, 3])
    n = 512
    labels = torch.stack([torch.randint(0, k, (n,)) for k in groups.sizes], 1)
    features = groups.to_one_hot(labels) @ torch.randn(
        groups.num_attributes, 32
    ) + 0.5 * torch.randn(n, 32)
    head = GroupedSoftmaxHead(32, groups, hidden=(64,), dropout=0.1)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(100):
        loss = (
            -(grouped_log_softmax(head(features), groups) * groups.to_one_hot(labels)).sum(1).mean()
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    head.eval()
    score, group_acc = MeanClassAccuracy(groups), GroupAccuracy(groups, average="macro")
    with torch.no_grad():
        logits = head(features)
    score.update(logits, labels)
    group_acc.update(logits, labels)
    result = {
        "loss": loss.item(),
        "mean_class_accuracy": float(score.compute()),
        "mean_group_accuracy": float(group_acc.compute()),
    }
    print(result)
    return result


if __name__ == "__main__":
    main()
