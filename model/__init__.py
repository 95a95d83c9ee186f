"""The pure core of the MNIST lab: data, preprocessing, models, training,
evaluation, prediction and files. It never imports Streamlit, and imports
TensorFlow only inside the functions that need it."""
