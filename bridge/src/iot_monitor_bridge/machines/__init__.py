"""State machines on the bridge (``machines:`` in the config); pure, no I/O.

- ``expr``: the guard language (``fridge.temperature < 8``), parsed at configuration time,
  evaluated without ``eval``, three-valued.
- ``engine``: a machine declared in the file, run as a table: ``fire(event, data, now)``
  gives ``Accepted`` (transitions and actions to carry out) or ``Refused`` (naming the state
  and the events it allows); timeouts through ``due()`` and ``tick(now)`` on the caller's
  clock; guards read the sensor values passed in.
- ``vending``: money, stock and orders on top of a machine with a ``vending`` block, and the
  ledger entries each step makes (``runtime/ledger.py`` stores them).

Why a table of our own and not python-statemachine (the issue's suggestion)
---------------------------------------------------------------------------

python-statemachine 3.2.2 was evaluated for a machine declared in YAML at run time. It can
build one (``statemachine.io.create_machine_class_from_definition``), its strict
``StateMachine`` refuses events a state does not allow, and ``start_value=`` restores a
state. Measured on Python 3.11.7 (the Pi's), each figure the median of 5 fresh interpreters
that had first imported what the running bridge already holds (asyncio, sqlite3, json,
logging, paho-mqtt, the validated configuration), the vending machine of
``bridge/examples/vending.yaml``, ``bench/machine_engines.py``:

===================================  ========  =========  ========  ===========
engine                               RSS MB    import ms  build ms  µs per event
===================================  ========  =========  ========  ===========
this table, with the vending model   0.3       15.7       0.75      23 (32)
python-statemachine, table only      1.7       28.9       3.71      138
===================================  ========  =========  ========  ===========

(The table's µs per event include the vending model's bookkeeping and a copy of its state
per step; 23 in the scratch environment that has both, 32 in ``.venv-bridge311``. In a bare
interpreter python-statemachine costs 13.1 MB and 73 ms, since it imports asyncio.)

Neither cost matters at a few events a minute; what decided it is fit:

- A machine from a file is a class built by a metaclass: guards and actions become
  callables the engine calls with its own dependency injection, so the three-valued guards
  on a sensor snapshot, the key-path problems of ``check-config`` and the vending model's
  bookkeeping would all sit beside it in wrappers anyway.
- Its checks do not fit: ``validate_disconnected_states`` refuses ``needs_attention`` (only a
  restart enters it) unless switched off, and its errors name no key path of our file.
- Timeouts there are ``contrib.timeout`` on an asyncio loop; the runtime here wants a pure
  ``due()``/``tick(now)`` on an injected clock (testable without sleeping).
- The table is what the file says: about 450 lines (``engine.py``) against 7 000 lines of the
  library's core (13 000 with ``io``), each rule of the semantics written in one place and
  the whole of it covered by ``tests/bridge/test_machines_engine.py``. It adds no dependency
  to the Pi.
"""
