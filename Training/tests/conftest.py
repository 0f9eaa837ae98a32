import pathlib
import sys

# Tests import the package from Training/ without installing it.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
