// MathJax settings for the maths on this site.
//
// On the Markdown pages, pymdownx.arithmatex (generic mode) wraps every formula
// in an element of class "arithmatex", delimited by \( \) or \[ \]. On the
// notebook pages, the formulas stay in the rendered Markdown cells (class
// "jp-MarkdownOutput"), delimited by $ $ or $$ $$ as in Jupyter. MathJax is
// told to look inside those elements only, so dollar signs and backslashes
// anywhere else (code, shell examples) are left alone.
//
// How the two class options combine: an element whose class matches
// ignoreHtmlClass is skipped with everything inside it, unless the element
// itself matches processHtmlClass. Every container of the theme has a class,
// so ".+" skips them all; the paragraphs of a notebook cell have no class, so
// they stay typeset inside a processed "jp-MarkdownOutput".
window.MathJax = {
  tex: {
    inlineMath: [
      ["\\(", "\\)"],
      ["$", "$"],
    ],
    displayMath: [
      ["\\[", "\\]"],
      ["$$", "$$"],
    ],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".+",
    processHtmlClass: "arithmatex|jp-MarkdownOutput",
  },
};

// With instant navigation the theme swaps page content without a full reload;
// typeset the new content every time a page is shown.
document$.subscribe(() => {
  if (!window.MathJax.typesetPromise) {
    return; // MathJax is still loading; it typesets the first page by itself
  }
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
