"""Write examples/models/bank_marketing.skops: the demo's campaign model, for examples/bank_marketing.yaml."""

from pathlib import Path

import skops.io

from fairaudit.demo import train_demo_model

if __name__ == "__main__":
    model, _ = train_demo_model()
    target = Path(__file__).parent / "models" / "bank_marketing.skops"
    skops.io.dump(model, target)
    print(f"wrote {target}")
