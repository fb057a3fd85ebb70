"""The grader's digit classifier, trained on the 60,000 MNIST training images prepared as Task 3 prepares
them and measured on the 10,000 test images. Its weights ship with the grader (committed, not cached)."""

from ddpm_lab import data, io
from ddpm_lab.config import ClassifierData, Mnist
from ddpm_lab.progress import Bar
from grader import classifier
from stages._common import stage


@stage(
    "digit_classifier",
    configs={"mnist": Mnist, "classifier_data": ClassifierData, "digit_classifier": classifier.ClassifierConfig},
    outputs=["classifier"],
)
def main(cfg, paths):
    folder = data.fetch_mnist(cfg.mnist.mnist_dir)
    train_images, train_labels = data.prepared_split(folder, "train", cfg.mnist.image_size)
    test_images, test_labels = data.prepared_split(folder, "test", cfg.mnist.image_size)
    n = cfg.classifier_data.n_train
    model, history = classifier.train(
        train_images[:n], train_labels[:n], cfg.digit_classifier, progress=Bar(f"digit classifier on {n} images", unit="epoch")
    )
    io.torch_save(paths.classifier, model.state_dict())
    predicted = classifier.probabilities(model, test_images).argmax(1)  # 10 = "not a digit"
    per_digit = {str(d): round(float((predicted[test_labels == d] == d).mean()), 4) for d in range(10)}
    return {
        "file": str(paths.classifier),
        "sha256": io.file_digest(paths.classifier, "sha256"),
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
