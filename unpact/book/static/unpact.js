// Click-to-zoom (added by unpact.book.sphinx_assets): every figure of a page opens full size in a
// new tab, so a figure shrunk to fit a phone screen can still be read.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".bd-article img").forEach(function (img) {
    if (img.closest("a")) { return; }
    var link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "unpact-zoom";
    link.title = "Open the full-size figure";
    link.target = "_blank";
    img.parentNode.insertBefore(link, img);
    link.appendChild(img);
  });
});
