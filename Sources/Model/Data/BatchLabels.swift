// What a batch should produce: its rows' labels, as the loss reads them per task kind.

/// A batch's labels: classes (classification, binary) or values (regression, similarity).
public enum BatchLabels {
    case classes([Int])
    case values([Float])
}
