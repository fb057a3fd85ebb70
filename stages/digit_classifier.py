"""The grader's digit classifier, trained on the 60,000 MNIST training images prepared as Task 3 prepares
them and measured on the 10,000 test images. Its weights ship with the grader (committed, not cached)."""

import numpy as np
from _common import stage
from tqdm import tqdm

from ddpm_lab import classifier, data, io

SHIPPED = "grader/references/digit_classifier.pt"


@stage("digit_classifier")
def main(params, out):
    p = params["digit_classifier"]
    size = params["data"]["image_size"]
    cfg = classifier.ClassifierConfig(epochs=p["epochs"], batch_size=p["batch_size"], learning_rate=p["learning_rate"],
                                      max_shift=p["max_shift"], seed=params["seed"])
    folder = data.fetch_mnist(params["data"]["mnist_dir"])
    train_images, train_labels = data.prepared_split(folder, "train", size)
    test_images, test_labels = data.prepared_split(folder, "test", size)
    n = p["n_train"]
    model, history = classifier.train(train_images[:n], train_labels[:n], cfg,
                                      progress=lambda it: tqdm(it, desc=f"digit classifier on {n} images", unit="epoch"))
    io.torch_save(SHIPPED, model.state_dict())
    predicted = classifier.probabilities(model, test_images).argmax(1)  # 10 = "not a digit"
    per_digit = {str(d): round(float((predicted[test_labels == d] == d).mean()), 4) for d in range(10)}
    return {
        "file": SHIPPED,
        "sha256": io.file_digest(SHIPPED, "sha256"),
        "n_train": int(n),
        "test_accuracy": float((predicted == test_labels).mean()),
        "n_test": int(len(test_labels)),
        "test_accuracy_per_digit": per_digit,
        "test_called_not_a_digit": float((predicted == classifier.NOT_A_DIGIT).mean()),
        "loss_per_epoch": [round(v, 5) for v in history],
        "parameters": sum(t.numel() for t in model.parameters()),
    }


if __name__ == "__main__":
    main()
