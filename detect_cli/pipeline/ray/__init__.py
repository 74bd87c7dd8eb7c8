"""`detect --engine ray`: cluster.py reaches Ray, actor.py runs the engine in workers, driver.py runs the job."""
