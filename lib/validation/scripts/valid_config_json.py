"""Fail unless the snapshot (the working directory) holds a config.json that is a JSON object."""
import json
import sys

try:
    with open("config.json", encoding="utf-8") as f:
        config = json.load(f)
except FileNotFoundError:
    sys.exit("config.json is missing (a dataset has none: leave validConfigJson out for it)")
except (ValueError, UnicodeDecodeError) as e:
    sys.exit(f"config.json is not valid JSON: {e}")
if not isinstance(config, dict):
    sys.exit(f"config.json holds a JSON {type(config).__name__}, not an object")
if "model_type" in config and not (isinstance(config["model_type"], str) and config["model_type"]):
    sys.exit("config.json: model_type is not a non-empty string")
print(f"config.json: model_type {config.get('model_type', '(none)')}")
