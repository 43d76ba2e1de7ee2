/**
 * A one-line progress bar on stderr. On a terminal it redraws in place; otherwise (CI, a log
 * file) it prints a line at every 25 % so the log stays short.
 */
export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  #label = "";
  #total = 0;
  #done = 0;
  #lastDraw = 0;
  #lastQuarter = -1;
  #started = 0;

  start(label: string, total: number): void {
    this.#label = label;
    this.#total = Math.max(1, total);
    this.#done = 0;
    this.#lastQuarter = -1;
    this.#started = Date.now();
    this.#draw(true);
  }

  set(done: number, note = ""): void {
    this.#done = done;
    this.#draw(false, note);
  }

  tick(n = 1): void {
    this.set(this.#done + n);
  }

  end(note = ""): void {
    this.#done = this.#total;
    this.#draw(true, note);
    if (this.#tty) process.stderr.write("\n");
  }

  /** A line of its own (above the bar on a terminal). */
  log(line: string): void {
    if (this.#tty) process.stderr.write(`\r\x1b[2K${line}\n`);
    else process.stderr.write(`${line}\n`);
    this.#draw(true);
  }

  #draw(force: boolean, note = ""): void {
    const now = Date.now();
    const fraction = Math.min(1, this.#done / this.#total);
    const seconds = ((now - this.#started) / 1000).toFixed(1);
    if (this.#tty) {
      if (!force && now - this.#lastDraw < 80) return;
      this.#lastDraw = now;
      const width = 28;
      const full = Math.round(fraction * width);
      const bar = `${"█".repeat(full)}${"░".repeat(width - full)}`;
      process.stderr.write(
        `\r\x1b[2K${this.#label.padEnd(30)} ${bar} ${String(Math.round(fraction * 100)).padStart(3)}% ${this.#done}/${this.#total} ${seconds}s ${note}`,
      );
      return;
    }
    const quarter = Math.floor(fraction * 4);
    if (quarter === this.#lastQuarter && !(force && note)) return;
    this.#lastQuarter = quarter;
    process.stderr.write(
      `[bench] ${this.#label}: ${Math.round(fraction * 100)}% (${this.#done}/${this.#total}, ${seconds}s) ${note}\n`,
    );
  }
}
