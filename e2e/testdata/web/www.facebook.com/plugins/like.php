<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Like</title></head>
<body>
<button type="button">Like</button>
<script>
  // The widget tells the embedding page it rendered.
  parent.postMessage({widget: "like"}, "https://shop.example");
</script>
</body>
</html>
