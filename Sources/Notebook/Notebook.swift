// Markdown notebooks: parse, execute, render HTML and charts (issue "Notebook"): not built yet.
import Kernel
