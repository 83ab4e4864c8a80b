// The lorabook command language, the live session and the REPL core (issue "Kernel"): not built yet.
import Model
