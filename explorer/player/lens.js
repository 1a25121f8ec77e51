// The repetition lens (filled in after the core player).
export class Lens {
  constructor(root) { this.root = root; }
  load() {}
  show() {}
}
