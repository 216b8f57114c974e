"""``make bench``'s row for the cost model: ``python -m bench.cost`` with its stated workload."""

from bench.cost import main

if __name__ == "__main__":
    main()
